"""The app in testing mode, for subprocesses started by tests (``flask --app tests.support.testing_app``):
the database comes from DATABASE_URL; TESTING enables the test-only fault switches."""

from booking.factory import create_app

app = create_app({"TESTING": True})
