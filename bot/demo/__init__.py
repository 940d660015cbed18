"""`engage demo`: the whole stack on its own database, with a synthetic council and a fake
Twilio and Telegram that print each message instead of sending it to a phone."""
