"""Finance reports and the files they become: the monthly statement per payee (``statements``), its
lines per settled booking (``statement_lines``), the lab open-sharing report (``lab_report``), the
files' columns and layouts (``files``), and statement exports requested by finance (``exports``) and
written in the background (``export_runs``)."""
