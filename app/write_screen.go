package app

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
)

// writeScreen writes the renewed certificate: a re-key consent when
// needed, the PIN dialog, then the steps with a progress bar; and a banner
// offering to finish a write that was interrupted.
type writeScreen struct {
	vm  *model.WriteVM
	ctx context.Context
	win fyne.Window

	root     *fyne.Container
	Start    *appwidget.KeyButton
	RekeyOK  *appwidget.KeyButton
	finish   *fyne.Container
	target   *widget.Label
	pin      *pinDialog // the open PIN dialog, for tests
	canStart binding.Bool
}

// newWriteScreen builds the screen over win (for the PIN dialog).
func newWriteScreen(ctx context.Context, vm *model.WriteVM, win fyne.Window) *writeScreen {
	s := &writeScreen{vm: vm, ctx: ctx, win: win, canStart: binding.NewBool()}
	s.makeUI()
	return s
}

// Object is the screen's root.
func (s *writeScreen) Object() fyne.CanvasObject { return s.root }

func (s *writeScreen) makeUI() {
	s.target = widget.NewLabel(lang.X("write.choose", "在“申请进度”中，对“待下载”的申请点击“写入 UKey”。"))
	s.target.Wrapping = fyne.TextWrapWord
	s.RekeyOK = appwidget.NewKeyButton(lang.X("write.rekey_ok", "我已了解，生成新密钥"), theme.WarningIcon(), s.vm.ConfirmRekey)
	s.RekeyOK.Importance = widget.WarningImportance
	bindVisible(s.vm.NeedsRekeyOK, s.RekeyOK, false)
	s.Start = appwidget.NewKeyButton(lang.X("write.start", "输入口令并写入"), theme.DownloadIcon(), s.askPIN)
	s.Start.Importance = widget.HighImportance
	for _, b := range []binding.DataItem{s.vm.Busy, s.vm.Done, s.vm.NeedsRekeyOK} {
		b.AddListener(binding.NewDataListener(s.update))
	}
	bindEnabled(s.canStart, s.Start, false)

	bar := widget.NewProgressBarWithData(s.vm.Progress)
	step := widget.NewLabelWithData(s.vm.StepText)
	steps := widget.NewLabel(lang.X("write.steps", "步骤：获取新证书 → 写入 UKey → 校验 → 通知续期服务"))
	steps.Importance = widget.LowImportance
	note := hintLabel(lang.X("write.safe", "写入过程中即使拔出 UKey 或断电，UKey 上也始终保留可用的证书；下次启动时可以继续完成。"))

	done := widget.NewLabelWithStyle(lang.X("write.done_badge", "✓ 续期完成"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	done.Importance = widget.SuccessImportance
	done.SizeName = theme.SizeNameSubHeadingText
	bindVisible(s.vm.Done, done, false)
	s.finish = container.NewVBox()
	s.vm.Unfinished.AddListener(binding.NewDataListener(s.rebuildFinish))
	s.vm.Busy.AddListener(binding.NewDataListener(s.rebuildFinish)) // no second job while one runs
	s.root = container.NewVBox(heading(lang.X("write.title", "写入 UKey")), s.finish, s.target, done, messageLabel(s.vm.Message),
		container.NewHBox(s.RekeyOK, s.Start), steps, bar, step, note)
}

func (s *writeScreen) rebuildFinish() {
	serials, _ := s.vm.Unfinished.Get()
	objs := []fyne.CanvasObject{}
	for _, serial := range serials {
		b := appwidget.NewKeyButton(lang.X("write.finish", "继续未完成的写入（UKey {{.Serial}}）", map[string]any{"Serial": serial}),
			theme.MediaReplayIcon(), func() { s.askFinishPIN(serial) })
		b.Importance = widget.WarningImportance
		if busy, _ := s.vm.Busy.Get(); busy {
			b.Disable()
		}
		objs = append(objs, b)
	}
	s.finish.Objects = objs
	s.finish.Refresh()
	if s.root != nil {
		s.root.Refresh() // lay out again: the banner's height changed
	}
}

// Show points the screen at the prepared target (after WriteVM.Prepare).
func (s *writeScreen) Show() {
	a, serial := s.vm.Target()
	if a == nil {
		return
	}
	s.target.SetText(lang.X("write.target_cert", "续期证书 {{.Cert}}，写入 UKey（序列号 {{.Serial}}）", map[string]any{"Cert": strings.ToUpper(a.CertSerial), "Serial": serial}))
	s.update()
	s.FocusFirst()
}

// FocusFirst puts the keyboard focus on what the clerk does next: agree to
// a re-key, start the write, or finish an interrupted one.
func (s *writeScreen) FocusFirst() {
	a, _ := s.vm.Target()
	busy, _ := s.vm.Busy.Get()
	done, _ := s.vm.Done.Get()
	rk, _ := s.vm.NeedsRekeyOK.Get()
	switch {
	case rk:
		focusIn(s.root, s.RekeyOK)
	case a != nil && !busy && !done:
		focusIn(s.root, s.Start)
	case len(s.finish.Objects) > 0:
		if b, ok := s.finish.Objects[0].(*appwidget.KeyButton); ok {
			focusIn(s.root, b)
		}
	}
}

func (s *writeScreen) update() {
	a, _ := s.vm.Target()
	busy, _ := s.vm.Busy.Get()
	done, _ := s.vm.Done.Get()
	rk, _ := s.vm.NeedsRekeyOK.Get()
	_ = s.canStart.Set(a != nil && !busy && !done && !rk)
	if s.root != nil {
		s.root.Refresh() // lay out again: the consent or the done mark came or went
	}
}

func (s *writeScreen) askPIN() {
	s.pin = newPINDialog(s.ctx, s.vm.PINVM(), s.win, func() {
		go func() { _ = s.vm.Run(s.ctx) }()
	})
	s.pin.Show(s.win)
}

func (s *writeScreen) askFinishPIN(serial string) {
	s.pin = newPINDialog(s.ctx, s.vm.FinishPINVM(serial), s.win, func() {
		go func() { _ = s.vm.Finish(s.ctx) }()
	})
	s.pin.Show(s.win)
}
