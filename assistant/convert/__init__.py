"""Media converters: normalise any audio or image for the models, and convert media in bulk."""

from assistant.convert.api import (
    convert_audio,
    convert_audio_bytes,
    convert_image,
    convert_image_bytes,
    image_to_webp,
    mp3_to_wav,
    png_to_jpeg,
    resample,
    to_speech_wav,
    wav_to_mp3,
)
from assistant.convert.audio import AudioConverter, AudioResult
from assistant.convert.audio_decode import DecodedAudio, decode, decode_audio
from assistant.convert.batch import Outcome, batch_convert
from assistant.convert.image import ImageConverter, ImageResult
from assistant.convert.options import ConversionConfig
from assistant.convert.stream import StreamDecoder

__all__ = [
    "AudioConverter",
    "AudioResult",
    "ConversionConfig",
    "DecodedAudio",
    "ImageConverter",
    "ImageResult",
    "Outcome",
    "StreamDecoder",
    "batch_convert",
    "convert_audio",
    "convert_audio_bytes",
    "convert_image",
    "convert_image_bytes",
    "decode",
    "decode_audio",
    "image_to_webp",
    "mp3_to_wav",
    "png_to_jpeg",
    "resample",
    "to_speech_wav",
    "wav_to_mp3",
]
