"""The ffmpeg command per OS and source: pure functions, no ffmpeg needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from device_plugins.recorder.ffmpeg_args import build_command
from device_plugins.recorder.settings import RecorderSettings


def command(platform: str, sources: list[dict[str, object]], **extra: object) -> list[str]:
    settings = RecorderSettings.model_validate({"sources": sources, **extra})
    return build_command(
        settings, pattern=Path("/r/x_%05d.mp4"), segment_list=Path("/r/.x.csv"), platform=platform
    )


def after(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_linux_desktop_camera_and_microphone() -> None:
    args = command(
        "linux",
        [
            {"type": "desktop", "device": ":0.0"},
            {"type": "camera", "video_size": "1280x720"},
            {"type": "microphone"},
        ],
        segment_s=300,
    )
    assert after(args, "-f")[:3] == ["x11grab", "v4l2", "alsa"]
    assert after(args, "-i") == [":0.0", "/dev/video0", "default"]
    assert "1280x720" in after(args, "-video_size")
    graph = after(args, "-filter_complex")[0]
    assert "[1:v]scale=480:-2[pip]" in graph and "overlay" in graph
    assert after(args, "-map") == ["[v]", "2:a:0"]
    assert after(args, "-segment_time") == ["300"] and after(args, "-reset_timestamps") == ["1"]
    assert after(args, "-segment_list_type") == ["csv"]
    assert "frag_keyframe" in after(args, "-segment_format_options")[0]
    assert args[-1] == "/r/x_%05d.mp4"


def test_windows_uses_gdigrab_and_dshow() -> None:
    args = command(
        "win32",
        [
            {"type": "desktop"},
            {"type": "microphone", "device": "audio=麦克风 (USB Audio)"},
        ],
    )
    assert after(args, "-f")[:2] == ["gdigrab", "dshow"]
    assert after(args, "-i") == ["desktop", "audio=麦克风 (USB Audio)"]
    assert after(args, "-map") == ["0:v:0", "1:a:0"]


def test_lavfi_sources_are_paced_and_audio_is_detected() -> None:
    args = command("linux", [{"type": "lavfi", "device": "testsrc2=size=1920x1080:rate=25"},
                             {"type": "lavfi", "device": "sine"}])  # fmt: skip
    assert args.count("-re") == 2
    assert after(args, "-map") == ["0:v:0", "1:a:0"]


def test_at_most_two_video_and_one_audio_source() -> None:
    with pytest.raises(ValidationError):
        RecorderSettings.model_validate(
            {"sources": [{"type": "desktop"}, {"type": "camera"}, {"type": "camera"}]}
        )
    with pytest.raises(ValidationError):
        RecorderSettings.model_validate(
            {"sources": [{"type": "microphone"}, {"type": "lavfi", "device": "sine"}]}
        )


def test_schedule_needs_aware_datetimes_in_order() -> None:
    with pytest.raises(ValidationError):
        RecorderSettings.model_validate(
            {
                "schedule": [
                    {
                        "session_id": "s",
                        "start": "2026-01-01T09:00:00",
                        "end": "2026-01-01T10:00:00",
                    }
                ]
            }
        )
    with pytest.raises(ValidationError):
        RecorderSettings.model_validate(
            {
                "schedule": [
                    {
                        "session_id": "s",
                        "start": "2026-01-01T10:00:00Z",
                        "end": "2026-01-01T09:00:00Z",
                    }
                ]
            }
        )
