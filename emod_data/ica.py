"""Session-level ICA artifact removal (optional, ``--ica eog|iclabel``), before storage.

One MNE :class:`~mne.preprocessing.ICA` is fitted per subject-session on the
filtered signal of its good channels (average-referenced over them). Components
are removed either by their correlation with frontal EOG proxies (Fp1/Fp2, else
AF3/AF4, as EMOD's released code does; :meth:`mne.preprocessing.ICA.find_bads_eog`)
or by ICLabel's eye-blink or muscle probability (mne-icalabel, ONNX backend:
this package never imports torch). The removal is returned as a matrix on the
good channels, so that the ingest applies reference, ICA and interpolation to
every segment in one product.
"""

from __future__ import annotations

import numpy as np

from emod_data.channels import montage
from emod_data.config import ProcessingConfig
from emod_data.errors import SignalError

FRONTAL_PROXIES = (("Fp1", "Fp2"), ("AF3", "AF4"))
"""EOG proxy channels in order of preference: the first pair with a channel present is used."""

SAMPLES_PER_COMPONENT2 = 10
"""A session needs at least this many samples per squared component count for a stable ICA."""

FIT_SAMPLES = 40_000
"""ICA is fitted on every k-th sample of a longer session (MNE's ``decim``), to about this many samples."""

ICLABEL_CLASSES = ("brain", "muscle", "eye", "heart", "line", "channel", "other")
"""ICLabel's output classes, in its column order."""


def eog_proxies(names: list[str]) -> list[str]:
    """The frontal channels used as EOG proxies: Fp1/Fp2 when either is present, else AF3/AF4; may be empty."""
    for pair in FRONTAL_PROXIES:
        present = [name for name in pair if name in names]
        if present:
            return present
    return []


def _raw(data: np.ndarray, names: list[str], sfreq: float):
    import mne

    raw = mne.io.RawArray(data * 1e-6, mne.create_info(list(names), sfreq, "eeg"), verbose="error")
    raw.set_montage(montage(names), verbose="error")
    return raw


def ica_cleaner(
    data: np.ndarray, names: list[str], sfreq: float, config: ProcessingConfig, where: str
) -> tuple[np.ndarray, list[str]]:
    """Fit ICA on a session and find the components to remove.

    Parameters
    ----------
    data : numpy.ndarray
        (G, samples) filtered signal of the session's good channels in µV, average-referenced
        over them (all segments one after the other).
    names : list of str
        The G channel names.
    sfreq : float
        Sampling rate in Hz.
    config : ProcessingConfig
        ``ica`` (``"eog"`` or ``"iclabel"``), ``ica_method``, ``ica_components``,
        ``ica_eog_threshold``, ``ica_iclabel_threshold``.
    where : str
        What to name in errors (file and session).

    Returns
    -------
    operator : numpy.ndarray
        (G, G) matrix that removes the components from a (G, samples) segment.
    removed : list of str
        The removed components with why, e.g. ``"ICA000 eog 0.93"`` (absolute correlation with the
        proxy) or ``"ICA002 eye 0.97"`` (ICLabel probability).

    Raises
    ------
    SignalError
        A session too short for the number of components, or (``eog``) no frontal proxy channel.
    """
    from mne.preprocessing import ICA

    proxies = eog_proxies(names)
    if config.ica == "eog" and not proxies:
        raise SignalError(
            f"{where}: no frontal channel (Fp1/Fp2 or AF3/AF4) to serve as EOG proxy for --ica eog; "
            "use --ica iclabel or off"
        )
    # the data are referenced over the good channels: their rank is one less than their number
    n_components = min(config.ica_components, len(names) - 1)
    needed = SAMPLES_PER_COMPONENT2 * n_components**2
    if n_components < 2 or data.shape[1] < needed:
        raise SignalError(
            f"{where}: session of {data.shape[1] / sfreq:.3g} s with {len(names)} good channels is too short "
            f"for ICA with {n_components} components (needs {needed / sfreq:.3g} s); use --ica off"
        )
    raw = _raw(data, names, sfreq)
    method, params = ("infomax", {"extended": True}) if config.ica_method == "infomax" else (config.ica_method, None)
    ica = ICA(n_components=n_components, method=method, fit_params=params, random_state=0, max_iter="auto")
    ica.fit(raw, decim=max(1, data.shape[1] // FIT_SAMPLES), verbose="error")
    if config.ica == "eog":
        indices, scores = ica.find_bads_eog(
            raw,
            ch_name=proxies,
            threshold=config.ica_eog_threshold,
            measure="correlation",
            l_freq=1.0,
            h_freq=10.0,
            verbose="error",
        )
        scores = np.max(np.abs(np.atleast_2d(scores)), axis=0)
        removed = [f"ICA{k:03d} eog {scores[k]:.2f}" for k in sorted(indices)]
        exclude = sorted(indices)
    else:
        from mne_icalabel.iclabel import iclabel_label_components

        probabilities = iclabel_label_components(raw, ica, inplace=False, backend="onnx")
        exclude, removed = [], []
        for k, row in enumerate(probabilities):
            for kind in ("eye", "muscle"):
                p = float(row[ICLABEL_CLASSES.index(kind)])
                if p >= config.ica_iclabel_threshold:
                    exclude.append(k)
                    removed.append(f"ICA{k:03d} {kind} {p:.2f}")
                    break
    if not exclude:
        return np.eye(len(names)), []
    # the removal as a matrix: ICA.apply on unit impulses, minus its value at zero (the fit's channel means)
    impulses = _raw(np.eye(len(names)), names, sfreq)
    zeros = _raw(np.zeros((len(names), len(names))), names, sfreq)
    ica.apply(impulses, exclude=exclude, verbose="error")
    ica.apply(zeros, exclude=exclude, verbose="error")
    operator = (impulses.get_data() - zeros.get_data()) * 1e6  # column j: the output for a unit input on j
    return operator, removed
