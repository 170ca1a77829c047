"""Audio and image converters through the Python API: real files, real properties."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from assistant.convert import api
from assistant.convert.audio_decode import decode
from assistant.convert.options import ConversionConfig
from assistant.errors import InputError
from tests import corpus


@pytest.fixture(scope="module")
def stereo_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("a") / "tone.wav"
    return corpus.write_audio(path, corpus.tone(2.0, lead_silence=1.0), 44100, "pcm_s16le")


@pytest.mark.parametrize(
    ("fmt", "rate", "channels"),
    [
        ("wav", 16000, 1),
        ("flac", 22050, 2),
        ("mp3", 44100, 1),
        ("ogg", 44100, 2),
        ("opus", 48000, 1),
        ("m4a", 32000, 2),
        ("aac", 44100, 2),
        ("webm", 48000, 2),
    ],
)
def test_audio_formats_rates_and_channels(
    stereo_wav: Path, tmp_path: Path, fmt: str, rate: int, channels: int
) -> None:
    out = tmp_path / f"out.{fmt}"
    api.convert_audio(stereo_wav, out, fmt, ConversionConfig(sample_rate=rate, channels=channels))
    decoded = decode(out)
    assert decoded.sample_rate == rate
    assert decoded.channels == (
        2 if fmt == "ogg" else channels
    )  # FFmpeg's Vorbis encoder is stereo-only
    assert decoded.seconds == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("src_fmt", ["mp3", "ogg", "opus", "m4a", "flac"])
def test_any_input_codec_decodes(stereo_wav: Path, tmp_path: Path, src_fmt: str) -> None:
    encoded = tmp_path / f"in.{src_fmt}"
    api.convert_audio(stereo_wav, encoded, src_fmt)
    result = api.to_speech_wav(encoded, tmp_path / "speech.wav")
    decoded = decode(tmp_path / "speech.wav")
    assert (decoded.sample_rate, decoded.channels) == (16000, 1)
    assert result.seconds == pytest.approx(3.0, abs=0.1)


def test_trim_loudness_gain_and_sample_format(stereo_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "edited.wav"
    api.convert_audio(
        stereo_wav,
        out,
        config=ConversionConfig(trim_silence=True, loudness_dbfs=-30.0, sample_format="f32"),
    )
    decoded = decode(out, fmt="flt")
    assert decoded.seconds == pytest.approx(2.0, abs=0.05)  # the leading second of silence is gone
    rms = float(np.sqrt(np.mean(decoded.samples.astype(np.float64) ** 2)))
    assert 20 * np.log10(rms) == pytest.approx(-30.0, abs=1.0)
    import av

    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "pcm_f32le"


def test_gain_changes_level(stereo_wav: Path, tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.wav"
    api.convert_audio(stereo_wav, quiet, config=ConversionConfig(gain_db=-12.0))
    a, b = decode(stereo_wav).samples, decode(quiet).samples
    ratio = np.abs(b).max() / np.abs(a).max()
    assert 20 * np.log10(ratio) == pytest.approx(-12.0, abs=0.5)


def test_audio_track_of_a_video(tmp_path: Path) -> None:
    video = corpus.write_video(tmp_path / "clip.mp4", seconds=2.0)
    result = api.convert_audio(video, tmp_path / "track.wav")
    assert result.seconds == pytest.approx(2.0, abs=0.15)


def test_video_without_audio_is_a_clear_error(tmp_path: Path) -> None:
    video = corpus.write_video(tmp_path / "mute.mp4", with_audio=False)
    with pytest.raises(InputError, match="no audio stream"):
        api.convert_audio(video, tmp_path / "x.wav")
    assert list(tmp_path.glob("x.wav*")) == [] and list(tmp_path.glob(".x.wav*")) == []


def test_exif_orientation_applied_and_metadata_kept(tmp_path: Path) -> None:
    src = corpus.photo(
        tmp_path / "rotated.jpg", orientation=6
    )  # stored sideways: display rotated 90 cw
    out = tmp_path / "upright.png"
    api.convert_image(src, out)
    image = Image.open(out)
    assert image.size == (200, 300)
    assert image.getpixel((image.width - 10, 10))[0] > 200  # red square moved to the top-right
    assert image.getexif().get(0x010F) == "TestCam" and image.getexif().get(0x0112, 1) == 1
    assert image.info.get("icc_profile")


def test_strip_removes_metadata(tmp_path: Path) -> None:
    src = corpus.photo(tmp_path / "p.jpg")
    out = tmp_path / "p.webp"
    api.convert_image(src, out, config=ConversionConfig(strip=True))
    image = Image.open(out)
    assert not image.getexif() and not image.info.get("icc_profile")


@pytest.mark.parametrize(
    ("fit", "size"), [("fit", (100, 67)), ("fill", (100, 100)), ("exact", (100, 100))]
)
def test_resize_modes(tmp_path: Path, fit: str, size: tuple[int, int]) -> None:
    src = corpus.photo(tmp_path / "p.jpg")  # 300x200
    out = tmp_path / "r.jpeg"
    api.convert_image(src, out, config=ConversionConfig(size=(100, 100), fit=fit))  # type: ignore[arg-type]
    assert Image.open(out).size == size


def test_alpha_flattened_onto_background_for_jpeg(tmp_path: Path) -> None:
    src = corpus.transparent_png(tmp_path / "a.png")
    out = tmp_path / "a.jpg"
    api.convert_image(src, out, config=ConversionConfig(background="#ff00ff"))
    image = Image.open(out).convert("RGB")
    r, g, b = image.getpixel((5, 5))
    assert r > 240 and g < 20 and b > 240
    assert image.getpixel((50, 50))[1] > 240  # the opaque square is still green


def test_gif_first_frame_by_default_all_frames_on_request(tmp_path: Path) -> None:
    gif = corpus.animated_gif(tmp_path / "anim.gif")
    api.convert_image(gif, tmp_path / "one.webp")
    assert getattr(Image.open(tmp_path / "one.webp"), "n_frames", 1) == 1
    api.convert_image(gif, tmp_path / "all.webp", config=ConversionConfig(all_frames=True))
    assert Image.open(tmp_path / "all.webp").n_frames == 3


def test_image_bytes_round_trip() -> None:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), "white").save(buffer, "PNG")
    data = api.convert_image_bytes(buffer.getvalue(), "jpeg", ConversionConfig(size=(10, 10)))
    assert Image.open(io.BytesIO(data)).format == "JPEG" and Image.open(io.BytesIO(data)).size == (
        10,
        5,
    )


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="too large"):
        api.convert_image(corpus.png_bomb(tmp_path / "bomb.png"), tmp_path / "b.jpg")
    with pytest.raises(InputError, match="too large"):
        api.convert_image(
            corpus.photo(tmp_path / "p.jpg"),
            tmp_path / "p.png",
            config=ConversionConfig(max_pixels=1000),
        )
    assert not (tmp_path / "b.jpg").exists() and not (tmp_path / "p.png").exists()


def test_resample_keeps_dtype_and_duration() -> None:
    signal = corpus.tone(1.0, 44100, 1)[:, 0].astype(np.float32)
    out = api.resample(signal, 44100, 16000)
    assert out.dtype == np.float32 and len(out) == pytest.approx(16000, abs=2)


def test_named_wrappers(stereo_wav: Path, tmp_path: Path) -> None:
    mp3 = tmp_path / "x.mp3"
    api.wav_to_mp3(stereo_wav, mp3)
    api.mp3_to_wav(mp3, tmp_path / "back.wav")
    assert decode(tmp_path / "back.wav").seconds == pytest.approx(3.0, abs=0.1)


def test_batch_convert_api_keeps_going_past_failures(tmp_path: Path) -> None:
    from assistant.convert import batch_convert

    src = tmp_path / "in"
    src.mkdir()
    corpus.photo(src / "a.jpg")
    corpus.transparent_png(src / "b.png")
    (src / "c.gif").write_bytes(b"GIF89a broken")
    results = batch_convert(
        [src], tmp_path / "out", "jpeg", ConversionConfig(size=(50, 50)), jobs=2
    )
    status = {Path(o.source).name: o.status for o in results}
    assert status == {"a.jpg": "converted", "b.png": "converted", "c.gif": "failed"}
    assert Image.open(tmp_path / "out" / "a.jpg").size == (50, 33)
