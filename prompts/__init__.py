"""How prompts sound: TTS for variables, Chinese number reading, splicing with recordings, playback.

The dialogue decides *what* is said (fragments + variables); this package turns that into PCM at the
call's rate and plays it into the call's playback queue with barge-in. It imports `dialogue.prompt`
for the part types; dialogue never imports this package.
"""
