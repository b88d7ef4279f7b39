"""Developer tools: the local Slack emulator, the sandbox that runs the bot against it, and
the demo."""
