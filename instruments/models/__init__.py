from instruments.models.instrument import OPERATION_MODES, Blackout, Instrument, OpeningHours, Qualification
from instruments.models.lab import Lab, LabClosure, LabManager
from instruments.models.service import Service
from instruments.models.training import TRAINING_REQUEST_STATUSES, TrainingRequest
from instruments.models.waitlist import WAITLIST_STATUSES, WaitlistEntry

__all__ = [
    "OPERATION_MODES",
    "TRAINING_REQUEST_STATUSES",
    "WAITLIST_STATUSES",
    "Blackout",
    "Instrument",
    "Lab",
    "LabClosure",
    "LabManager",
    "OpeningHours",
    "Qualification",
    "Service",
    "TrainingRequest",
    "WaitlistEntry",
]
