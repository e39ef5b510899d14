"""SMS adapter over Twilio: ``POST /channels/sms/webhook`` (verify · parse · render · adapter)."""
