package app

// startReminders puts the tray icon up and starts the expiry reminders.
func (u *UI) startReminders() {}
