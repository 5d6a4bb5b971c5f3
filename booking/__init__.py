"""The platform: core, people, flow and the api/web/jobs floors; booking/factory.py builds the app."""
