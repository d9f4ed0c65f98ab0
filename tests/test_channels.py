import numpy as np
import pytest

from emod_data.channels import build_vocabulary, canonical_name, channel_positions, load_vocabulary, plan_channels
from emod_data.errors import ChannelError


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("FP1", "Fp1"),
        ("fpz", "Fpz"),
        (" Cz ", "Cz"),
        ("POZ", "POz"),
        ("T3", "T7"),
        ("T4", "T8"),
        ("t5", "P7"),
        ("T6", "P8"),
        ("CB1", "CB1"),
        ("cb2", "CB2"),
        ("A1", "A1"),
    ],
)
def test_canonical_names(raw, canonical):
    assert canonical_name(raw) == canonical


@pytest.mark.parametrize("raw", ["XYZ", "EOG", "GSR", "Fp", ""])
def test_unknown_names_are_none(raw):
    assert canonical_name(raw) is None


def test_shipped_vocabulary_matches_mne_montage():
    shipped, built = load_vocabulary(), build_vocabulary()
    assert shipped["name"].tolist() == built["name"].tolist()
    assert shipped["id"].tolist() == list(range(1, len(shipped) + 1))  # 0 is reserved for padding
    np.testing.assert_allclose(shipped[["x", "y", "z"]], built[["x", "y", "z"]], atol=1e-6)
    assert not {"T3", "T4", "T5", "T6"} & set(shipped["name"])
    assert shipped["name"].str.upper().is_unique


def test_positions_cover_seed_extras():
    positions = channel_positions(["FP1", "CB1", "CB2", "Oz"])
    assert positions.shape == (4, 3)
    assert positions[1, 0] < 0 < positions[2, 0]  # CB1 left, CB2 right
    assert positions[1, 2] < positions[3, 2]  # cerebellar sites below Oz


def test_plan_keeps_order_excludes_and_renames():
    plan = plan_channels(["FP1", "EOG1", "Fz", "Ref"], {"Ref": "Cz"}, ["EOG1"], "m.toml")
    assert plan.names == ["Fp1", "Fz", "Cz"]
    assert plan.source_index.tolist() == [0, 2, 3]
    assert plan.excluded == ["EOG1"]
    assert plan.ids.dtype == np.int16 and (plan.ids > 0).all()


def test_unknown_channel_is_an_error_naming_manifest_and_channel():
    with pytest.raises(ChannelError, match=r"m\.toml: channel 'EOG1' is not in the channel vocabulary"):
        plan_channels(["FP1", "EOG1"], {}, [], "m.toml")


def test_two_channels_mapping_to_one_name_is_an_error():
    with pytest.raises(ChannelError, match=r"m\.toml: channels 'T3' and 'T7' both map to 'T7'"):
        plan_channels(["T3", "T7"], {}, [], "m.toml")
    with pytest.raises(ChannelError, match="channels 'Fz' and 'E1' both map to 'Fz'"):
        plan_channels(["Fz", "Cz", "E1"], {"E1": "Fz"}, [], "m.toml")


def test_per_file_renames():
    from emod_data.manifest import ChannelsSection

    section = ChannelsSection(
        names=["Fp1", "E2", "Cz"],
        rename={"E2": "Fz"},
        rename_files={"site-b/*": {"E2": "Pz", "Fp1X": "Fp1"}, "site-b/sub-03*": {"E2": "Oz"}},
    )
    assert section.rename_for("site-a/sub-01.edf") == {"E2": "Fz"}
    assert section.rename_for("site-b/sub-02.edf") == {"E2": "Pz", "Fp1X": "Fp1"}
    assert section.rename_for("site-b/sub-03.edf")["E2"] == "Oz"  # later globs win
    plan = plan_channels(["Fp1X", "E2", "Cz"], section.rename_for("site-b/sub-02.edf"), [], "f.edf")
    assert plan.names == ["Fp1", "Pz", "Cz"]
