"""APScheduler jobs for reminders and expiry, kept in the bot's own database."""
