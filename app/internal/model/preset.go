package model

import (
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Presets put a view-model in the state the service's answers would leave
// it in, without a service: the screens' golden images are drawn from
// them, each from one fixed state. Nothing else calls them.

// PresetPrices gives the form the service's prices, as Start would.
func (vm *RenewVM) PresetPrices(prices []renewal.Price) {
	vm.mu.Lock()
	vm.prices = prices
	vm.mu.Unlock()
}

// PresetApplication fills the form from application a, as Edit would.
func (vm *RenewVM) PresetApplication(a *renewal.Application) error { return vm.load(a) }

// PresetCode makes the code being shown that of application appID, good
// for the countdown cd, as Start would with the service's answer.
func (vm *PayVM) PresetCode(appID string, cd client.Countdown) {
	vm.mu.Lock()
	vm.appID, vm.cd, vm.hasCode = appID, cd, true
	vm.mu.Unlock()
}

// PresetApplication makes a the application being verified, as Load would.
func (vm *FinVerifyVM) PresetApplication(a *renewal.Application) {
	vm.mu.Lock()
	vm.app = a
	vm.mu.Unlock()
}

// PresetStatus shows the verification status st, as Load would.
func (vm *FinVerifyVM) PresetStatus(st *renewal.FinVerifyStatus) { vm.show(st) }

// PresetTarget makes application a on the token with serial what is being
// written, as Prepare would.
func (vm *WriteVM) PresetTarget(a *renewal.Application, serial string) {
	vm.mu.Lock()
	vm.app, vm.serial = a, serial
	vm.mu.Unlock()
}

// PresetApplication makes a the application whose invoice is shown, as
// Load would.
func (vm *InvoiceVM) PresetApplication(a *renewal.Application) {
	vm.mu.Lock()
	vm.app = a
	vm.mu.Unlock()
}

// PresetStatus shows the invoice status st of an application in state s,
// as Load would.
func (vm *InvoiceVM) PresetStatus(s renewal.State, st *renewal.InvoiceStatus) { vm.show(s, st) }
