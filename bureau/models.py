"""Every table of the application, imported together so the metadata is complete."""

from bureau.bookings.models import BookingEvent, BookingRequest, ReferenceCounter, RequestedSpeaker
from bureau.catalogue.models import (
    Post,
    PostSpeaker,
    Speaker,
    SpeakerFormat,
    SpeakerLanguage,
    Topic,
)
from bureau.jobs import Job

__all__ = [
    "BookingEvent",
    "BookingRequest",
    "Job",
    "Post",
    "PostSpeaker",
    "ReferenceCounter",
    "RequestedSpeaker",
    "Speaker",
    "SpeakerFormat",
    "SpeakerLanguage",
    "Topic",
]
