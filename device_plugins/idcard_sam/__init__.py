"""Second-generation ID-card readers (二代证阅读机具) speaking the SAM frame protocol."""
