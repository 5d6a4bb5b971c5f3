from instruments.models.instrument import OPERATION_MODES, Blackout, Instrument, OpeningHours, Qualification
from instruments.models.lab import Lab, LabManager
from instruments.models.service import Service

__all__ = [
    "OPERATION_MODES",
    "Blackout",
    "Instrument",
    "Lab",
    "LabManager",
    "OpeningHours",
    "Qualification",
    "Service",
]
