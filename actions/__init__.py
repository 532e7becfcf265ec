"""The assistant's Rasa SDK actions; `python -m rasa_sdk --actions actions` imports this package first."""
from connectors import redact

redact.install()  # mask secrets and phone numbers in every log line of the action server
