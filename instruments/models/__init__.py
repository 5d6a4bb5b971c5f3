from instruments.models.instrument import OPERATION_MODES, Blackout, Instrument, OpeningHours, Qualification
from instruments.models.lab import Lab, LabManager
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

__all__ = [
    "OPERATION_MODES",
    "ORDER_CANCELLABLE_STATUSES",
    "ORDER_DONE_STATUSES",
    "SERVICE_ORDER_STATUSES",
    "TRAINING_REQUEST_STATUSES",
    "Blackout",
    "Instrument",
    "Lab",
    "LabManager",
    "OpeningHours",
    "Qualification",
    "Service",
    "ServiceOrder",
    "ServiceOrderResult",
    "ServiceOrderStatus",
    "ServiceRating",
    "TrainingRequest",
]
