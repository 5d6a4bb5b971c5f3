from instruments.models.instrument import OPERATION_MODES, Blackout, Instrument, OpeningHours, Qualification
from instruments.models.lab import Lab, LabClosure, LabManager
from instruments.models.service import Service
from instruments.models.service_order import (
    ORDER_CANCELLABLE_STATUSES,
    ORDER_DONE_STATUSES,
    SERVICE_ORDER_STATUSES,
    ServiceOrder,
    ServiceOrderResult,
    ServiceOrderStatus,
    ServiceRating,
)
from instruments.models.training import TRAINING_REQUEST_STATUSES, TrainingRequest
from instruments.models.waitlist import WAITLIST_STATUSES, WaitlistEntry

__all__ = [
    "OPERATION_MODES",
    "ORDER_CANCELLABLE_STATUSES",
    "ORDER_DONE_STATUSES",
    "SERVICE_ORDER_STATUSES",
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
    "ServiceOrder",
    "ServiceOrderResult",
    "ServiceOrderStatus",
    "ServiceRating",
    "TrainingRequest",
    "WaitlistEntry",
]
