"""SIP and RTP through pjsua2: the endpoint, trunks, outbound calls, media bridge, DTMF, recording."""
