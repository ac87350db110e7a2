// Package apptest holds what the desktop client's tests share: the real
// renewal service of internal/renewdtest with the client's way into it
// (Service), a fake token source for the states SoftHSM2 cannot reach
// (FakeSource, FakeDetailSource), the demo tokens, a stepping clock for the
// payment watcher (StepClock), and small waits (Eventually, Get).
//
// The screen tests (package app) and the view-model tests (package
// model_test) both use it; it imports model, never app.
package apptest
