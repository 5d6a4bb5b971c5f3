"""The team's share by card, through a Stripe-compatible HTTP API (real Stripe or localstripe).

One job a module, each imported from where it does its job (nothing is re-exported here):
``wire`` the form encoding and the ``Stripe-Signature`` scheme; ``client`` the HTTP session with
retries, idempotency keys and the API's errors; ``holds`` a booking's card hold, placed at booking;
``orphan_holds`` holds no booking keeps, released after a failed request and by the job;
``capture`` the final amounts and the ``capture_payments`` job; ``webhooks`` refunds and the API's
webhook events.
"""
