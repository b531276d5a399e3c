"""16-bit PCM helpers shared by every audio path: WAV I/O with clear errors, resampling, framing."""
