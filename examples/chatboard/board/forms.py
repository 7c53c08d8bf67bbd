"""Sign-up and profile forms."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.forms import UserCreationForm

from django import forms

from .avatars import MAX_BYTES, process_avatar
from .models import MAX_ABOUT, MAX_DISPLAY_NAME


class SignupForm(UserCreationForm):
    """Username, password1, password2."""


class ProfileForm(forms.Form):
    display_name = forms.CharField(max_length=MAX_DISPLAY_NAME, required=False, strip=True)
    email = forms.EmailField(required=False)
    about = forms.CharField(
        max_length=MAX_ABOUT, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    avatar = forms.FileField(
        required=False,
        help_text="JPEG, PNG, GIF or WebP, up to 2 MB and 4096x4096 pixels.",
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/jpeg,image/png,image/gif,image/webp"}
        ),
    )
    remove_avatar = forms.BooleanField(required=False)
    email_notifications = forms.BooleanField(required=False)

    def clean_display_name(self) -> str:
        name: str = self.cleaned_data["display_name"]
        if any(not char.isprintable() for char in name):
            raise forms.ValidationError("Use printable characters only.")
        if "@" in name:  # the chat shows "name @username": no name may pass for a username
            raise forms.ValidationError("A display name cannot contain @.")
        return name

    def clean_avatar(self) -> bytes | None:
        upload: Any = self.cleaned_data.get("avatar")
        if not upload:
            return None
        if upload.size > MAX_BYTES:
            raise forms.ValidationError("The image is larger than 2 MB.")
        return process_avatar(upload.read())
