"""TikTok LIVE comment sessions: live sources (the TikTokLive adapter and the replay
source), the one upstream connection per streamer shared cluster-wide, and the
WebSocket fan-out across replicas."""
