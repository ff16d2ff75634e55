"""Quality benchmark: fine-tune SmolLM2-135M-Instruct with CE, NTIL and DIST2Loss and compare (see README.md)."""
