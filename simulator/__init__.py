"""A local WhatsApp: a chat page that talks to the channel the way Meta does, plus Meta's Graph API.

`python -m simulator` serves both from one aiohttp app on 127.0.0.1 (see simulator/app.py).
"""
