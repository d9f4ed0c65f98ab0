"""Cutting continuous recordings into trials: span files, events, the [recording] manifest section."""

from __future__ import annotations

import math
import re

import pytest

from emod_data.errors import ManifestError, ReaderError
from emod_data.manifest import MANIFEST_DIR, load_manifest
from emod_data.segmentation import (
    Event,
    RecordingSection,
    Span,
    check_spans,
    events_to_spans,
    parse_span_file,
    span_samples,
)
from emod_data.synth.plans import get_corpus

SEED_V_TEXT = """Session 1:
start_second: [30, 132, 287]
end_second: [102, 228, 524]

Session 2:
start_second: [30, 299]
end_second: [267, 488]
"""


def spec(**fields) -> RecordingSection:
    return RecordingSection(**{"trials": "stim_channel", **fields})


def test_span_file_with_sessions():
    parsed = parse_span_file(
        SEED_V_TEXT,
        spec(trials="span_file", span_file="t.txt", by_session=True, start_key="start_second", end_key="end_second"),
        "t.txt",
    )
    assert parsed == {1: [(30, 102), (132, 228), (287, 524)], 2: [(30, 267), (299, 488)]}


def test_span_file_in_samples_with_comments():
    text = "start_point_list = [27000,290000]  # 1000Hz\nend_point_list = [262000,523000]  # 1000Hz\n"
    recording = spec(
        trials="span_file",
        span_file="time.txt",
        start_key="start_point_list",
        end_key="end_point_list",
        span_unit="samples",
        span_sfreq=1000.0,
    )
    parsed = parse_span_file(text, recording, "time.txt")
    assert parsed == {None: [(27000, 262000), (290000, 523000)]}  # the trailing "1000Hz" is not a time
    assert span_samples(27000, 262000, recording, 1000.0) == (27000, 262000)
    assert span_samples(27000, 262000, recording, 200.0) == (5400, 52400)
    seconds = spec(trials="span_file", span_file="t.txt")
    assert span_samples(30, 102, seconds, 1000.0) == (30000, 102000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("start: [1, 2]\nend: [3]", "2 start times but 1 end times"),
        ("start: [1, 2]", "no list 'end [...]' found"),
        ("start: [5]\nend: [4]", "trial 1 spans 5-4; expected 0 <= start < end"),
        ("start: [1, x]\nend: [3, 4]", "list 'start' holds something other than numbers"),
    ],
)
def test_span_file_errors(text, message):
    with pytest.raises(ReaderError, match=re.escape(message)) as info:
        parse_span_file(text, spec(trials="span_file", span_file="s.txt"), "s.txt")
    assert str(info.value).startswith("s.txt") and "\n" not in str(info.value)


def test_fixed_spans_with_baseline():
    events = [Event(100, 5, "3"), Event(600, 5, "4"), Event(2000, 5, "5"), Event(2600, 5, "4")]
    spans = events_to_spans(events, spec(mode="fixed", start=[4], seconds=1.0, before=0.5), 100.0, "f")
    assert [(s.start, s.stop, s.code) for s in spans] == [(550, 700, "4"), (2550, 2700, "4")]


def test_start_end_with_identity_and_ties():
    # FACED: video index, then 101 (start) and 102 (end); an index may share its instant with the previous end
    events = [
        Event(0, 0, "100"),
        Event(10, 0, "7"),
        Event(20, 0, "101"),
        Event(90, 0, "102"),
        Event(90, 0, "3"),
        Event(95, 0, "101"),
        Event(150, 0, "102"),
    ]
    recording = spec(trials="annotations", mode="start_end", start=[101], end=[102], identity=list(range(1, 29)))
    spans = events_to_spans(list(reversed(events)), recording, 1.0, "f")
    assert [(s.start, s.stop, s.code) for s in spans] == [(20, 90, "7"), (95, 150, "3")]
    with pytest.raises(ReaderError, match="start event at sample 5 without an identity event"):
        events_to_spans([Event(5, 0, "101"), Event(9, 0, "102")], recording, 1.0, "f")
    with pytest.raises(ReaderError, match="the trial starting at sample 20 has no end event"):
        events_to_spans(events[:3], recording, 1.0, "f")


def test_start_end_capped_by_seconds():
    # DEAP: from code 4 to code 5, at most 60 s
    recording = spec(mode="start_end", start=[4], end=[5], seconds=60.0, before=3.0)
    events = [Event(1000, 1, "4"), Event(1000 + 6200, 1, "5"), Event(9000, 1, "4"), Event(9050, 1, "5")]
    spans = events_to_spans(events, recording, 100.0, "f")
    assert [(s.start, s.stop) for s in spans] == [(700, 7000), (8700, 9050)]


def test_first_two_events():
    recording = spec(mode="first_two")
    pulses = [Event(300, 2, "1"), Event(900, 2, "1"), Event(1200, 2, "1")]
    assert events_to_spans(pulses, recording, 1.0, "f") == [Span(300, 900, "1")]
    level = [Event(300, 600, "1")]  # a level held over the whole stimulus
    assert events_to_spans(level, recording, 1.0, "f") == [Span(300, 900, "1")]
    with pytest.raises(ReaderError, match="0 event"):
        events_to_spans([], recording, 1.0, "f")


def test_duration_events_filter_and_require_durations():
    recording = spec(trials="annotations", mode="duration", start=["film"])
    events = [Event(0, 10, "rest"), Event(10, 50, "film", {"emotion": "sad"}), Event(60, 10, "rest")]
    (span,) = events_to_spans(events, recording, 1.0, "f")
    assert (span.start, span.stop, span.code, span.row) == (10, 60, "film", {"emotion": "sad"})
    with pytest.raises(ReaderError, match="event 'film' at sample 3 has no duration"):
        events_to_spans([Event(3, 0, "film")], recording, 1.0, "f")


def test_spans_must_lie_inside_the_recording():
    check_spans([Span(0, 100, None)], 100, 10.0, "a.cnt", "t.txt")
    with pytest.raises(ReaderError) as info:
        check_spans([Span(0, 100, None), Span(200, 400, None)], 300, 10.0, "EEG_raw/a.cnt", "t.txt")
    message = str(info.value)
    assert message == (
        "EEG_raw/a.cnt: trial 2 spans 20.000-40.000 s but the recording is 30.000 s long; "
        "does t.txt match this recording?"
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('trials = "span_file"', 'trials = "span_file"\nmode = "fixed"'), None),
        (lambda t: t[: t.index("[recording]")] + t[t.index("[labels]") :], "needs a [recording] section"),
        (lambda t: t.replace('span_file = "trial_start_end_timestamp.txt"', ""), "needs recording.span_file"),
        (lambda t: t.replace('container = "cnt"', 'container = "mat"'), "needs format.layout and format.axes"),
        (lambda t: t.replace('container = "cnt"', 'container = "cnt"\nlayout = "stacked"'), "do not apply"),
        (lambda t: t.replace("by_session = true", "by_sessions = true"), "field 'recording.by_sessions'"),
    ],
)
def test_manifest_checks(tmp_path, edit, message):
    path = tmp_path / "seed_v_raw.toml"
    path.write_text(edit((MANIFEST_DIR / "seed_v_raw.toml").read_text()))
    if message is None:  # "mode" is irrelevant to span files: accepted
        assert load_manifest(path).recording.trials == "span_file"
        return
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value) and "\n" not in str(info.value)


def test_recording_section_needs_a_continuous_container(tmp_path):
    path = tmp_path / "seed.toml"
    path.write_text((MANIFEST_DIR / "seed.toml").read_text() + '\n[recording]\ntrials = "stim_channel"\n')
    with pytest.raises(ManifestError, match=r"\[recording\] applies to containers \['cnt', 'bdf', 'edf', 'bids'\]"):
        load_manifest(path)


def test_ratings_columns_must_match_rating_names(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text((MANIFEST_DIR / "mahnob_hci.toml").read_text().replace('"feltCtrl"]', "]"))
    with pytest.raises(ManifestError, match=r"rating_columns \['feltVlnc', 'feltArsl'\] must name one column"):
        load_manifest(path)


def test_seed_v_published_window_count():
    """Real durations: 1 s windows over the timestamp spans give 7,359 per subject, 117,744 for 16 subjects."""
    corpus = get_corpus("seed_v_raw")
    plans = corpus.layout(corpus, 16, 1.0, 0)
    (timestamps,) = [p for p in plans if p.relpath == "trial_start_end_timestamp.txt"]
    recording = corpus.manifest.recording
    spans = parse_span_file(timestamps.text, recording, timestamps.relpath)
    stored = [math.ceil((e - s) * 1000 * 200 / 1000) for trials in spans.values() for s, e in trials]  # at 200 Hz
    windows = sum(n // 200 for n in stored)  # 1 s windows, no overlap
    assert windows == 7359 and 16 * windows == 117_744
    recordings = [p for p in plans if p.relpath.endswith(".cnt")]
    assert len(recordings) == 48
    for plan in recordings:  # every recording is longer than its session's last span
        session = int(plan.relpath.split("/")[-1].split("_")[1])
        assert sum(s.n_samples for s in plan.segments) >= spans[session][-1][1] * 1000
