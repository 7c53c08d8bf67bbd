"""Avatar images: checked by their content, re-encoded small, never trusted as uploaded."""

from __future__ import annotations

import io
import warnings

from django.core.exceptions import ValidationError
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4096
SIZE = 256
FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "GIF": "GIF", "WEBP": "WebP"}


def process_avatar(data: bytes) -> bytes:
    """A PNG of at most SIZE x SIZE made from ``data``; :class:`ValidationError` if refused."""
    if len(data) > MAX_BYTES:
        raise ValidationError("The image is larger than 2 MB.", code="too_big")
    try:
        with warnings.catch_warnings():
            # Pillow warns before it refuses: both mean a decompression bomb.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise ValidationError(
                    "Only JPEG, PNG, GIF and WebP images are accepted.", code="format"
                )
            width, height = image.size
            if width > MAX_SIDE or height > MAX_SIDE:
                raise ValidationError(
                    f"The image is larger than {MAX_SIDE}x{MAX_SIDE} pixels.", code="pixels"
                )
            image.load()
            image = ImageOps.exif_transpose(image)
            image = image.convert(
                "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
            )
            image.thumbnail((SIZE, SIZE), Image.Resampling.LANCZOS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ValidationError("The image has too many pixels.", code="pixels") from error
    except UnidentifiedImageError as error:
        raise ValidationError("The file is not an image.", code="not_image") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ValidationError("The image is damaged or truncated.", code="damaged") from error
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
