"""Speech input: VAD, endpointing, streaming recognition (Vosk) on a bounded worker pool."""
