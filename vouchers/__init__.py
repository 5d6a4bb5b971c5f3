"""Compute vouchers (算力券): programmes, applications, vouchers, the stacking split, the ledger,
reconciliation and finance reports. Filled in by the voucher, reconciliation and finance issues."""
