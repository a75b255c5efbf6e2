"""The chat's live extensions of issue 18: typing indicators, mentions, read positions."""
