// Package widget holds the desktop client's own Fyne widgets: the level
// badge, the entries and button that take the keys a clerk presses (Esc,
// Enter, Ctrl+Enter), and the counter window's input sensor. They know
// nothing of the screens or the view-models: a screen sets their text,
// colours and callbacks.
package widget
