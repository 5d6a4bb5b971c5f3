from vouchers.models.application import Application
from vouchers.models.audit import AuditEntry
from vouchers.models.claim import CLAIM_STATUSES, SHARE_STATUSES, Claim, ClaimAttachment, ClaimShare
from vouchers.models.export import Export, ExportChunk
from vouchers.models.ledger import (
    ACCOUNT_KINDS,
    TRANSACTION_KINDS,
    JournalTransaction,
    LedgerAccount,
    PeriodTotal,
    Posting,
)
from vouchers.models.program import LEVELS, RESOURCE_KINDS, Program
from vouchers.models.settlement import (
    AccountingPeriod,
    FinanceException,
    ReconciliationRun,
    Settlement,
    SettlementTotal,
)
from vouchers.models.voucher import SubsidyLine, Voucher

__all__ = [
    "ACCOUNT_KINDS",
    "CLAIM_STATUSES",
    "LEVELS",
    "RESOURCE_KINDS",
    "SHARE_STATUSES",
    "TRANSACTION_KINDS",
    "AccountingPeriod",
    "Application",
    "AuditEntry",
    "Claim",
    "ClaimAttachment",
    "ClaimShare",
    "Export",
    "ExportChunk",
    "FinanceException",
    "JournalTransaction",
    "LedgerAccount",
    "PeriodTotal",
    "Posting",
    "Program",
    "ReconciliationRun",
    "Settlement",
    "SettlementTotal",
    "SubsidyLine",
    "Voucher",
]
