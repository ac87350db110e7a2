package model

import (
	"sync"

	"fyne.io/fyne/v2/lang"
)

// HoldForUpdate keeps writes and finishes from starting while a client
// update hands over to its installer; it refuses with ErrWriteRunning
// while one runs. The installer replaces the program that holds the
// token's session: it must never start in the middle of a write.
func (vm *WriteVM) HoldForUpdate() (release func(), err error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.jobs > 0 {
		return nil, ErrWriteRunning
	}
	vm.updating++
	var once sync.Once
	return func() {
		once.Do(func() {
			vm.mu.Lock()
			vm.updating--
			vm.mu.Unlock()
		})
	}, nil
}

// begin counts a write or a finish starting (job), unless an update holds
// writes: then it says so and returns ErrUpdating.
func (vm *WriteVM) begin() error {
	vm.mu.Lock()
	held := vm.updating > 0
	if !held {
		vm.jobs++
	}
	vm.mu.Unlock()
	if held {
		_ = vm.Message.Set(lang.X("write.updating", "正在安装程序更新，程序即将退出，现在不能写入 UKey。请在更新后重新打开程序再写入。"))
		return ErrUpdating
	}
	return nil
}
