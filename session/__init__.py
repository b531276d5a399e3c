"""One answered call: borrower frames -> VAD -> ASR -> intent -> dialogue -> prompt -> playback."""
