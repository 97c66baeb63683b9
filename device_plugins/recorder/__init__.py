"""Room recorder: ffmpeg capture of desktop, camera and microphone into uploaded segments."""
