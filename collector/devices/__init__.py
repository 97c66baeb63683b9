"""The device registry: enrolment, online state, heartbeat figures, sequence tracking."""
