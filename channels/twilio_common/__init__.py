"""What the SMS and hotline IVR adapters share: Twilio settings, webhook signatures, phone numbers."""
