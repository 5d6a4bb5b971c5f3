from instruments.models.instrument import OPERATION_MODES, Blackout, Instrument, OpeningHours, Qualification
from instruments.models.lab import Lab, LabManager
from instruments.models.service import Service
from instruments.models.training import TRAINING_REQUEST_STATUSES, TrainingRequest

__all__ = [
    "OPERATION_MODES",
    "TRAINING_REQUEST_STATUSES",
    "Blackout",
    "Instrument",
    "Lab",
    "LabManager",
    "OpeningHours",
    "Qualification",
    "Service",
    "TrainingRequest",
]
