package app

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
)

// updateBanner is the "新版本可用" bar over the window's content: the
// version, what changed, the main action (下载并安装, 立即安装, 下载 or
// 打开下载页) and 稍后. In counter mode it shows only while no customer is
// signed in: an update is for between customers.
type updateBanner struct {
	u      *UI
	vm     *model.UpdateVM
	box    fyne.CanvasObject
	outer  *fyne.Container // the bar over the content: laid out again when the bar shows or hides
	act    *widget.Button
	later  *widget.Button
	status *widget.Label
	// customer is the current customer's SignedIn (counter mode), and
	// its listener.
	customer  binding.Bool
	customerL binding.DataListener
}

func newUpdateBanner(u *UI, up model.Updater) *updateBanner {
	b := &updateBanner{u: u}
	b.vm = model.NewUpdateVM(up, u.holdForUpdate, func() { fyne.Do(u.app.Quit) }, u.deps.OpenURL)
	title := widget.NewLabelWithData(b.vm.Title)
	title.TextStyle = fyne.TextStyle{Bold: true}
	title.SizeName = theme.SizeNameSubHeadingText
	notes := widget.NewLabelWithData(b.vm.Notes)
	notes.Wrapping = fyne.TextWrapWord
	b.status = widget.NewLabelWithData(b.vm.Status)
	b.status.Wrapping = fyne.TextWrapWord
	b.status.Importance = widget.WarningImportance
	b.act = widget.NewButtonWithIcon("", theme.DownloadIcon(), func() { go func() { _ = b.vm.Act(u.ctx) }() })
	b.act.Importance = widget.HighImportance
	b.later = widget.NewButton(lang.X("update.later", "稍后"), b.vm.Later)
	bar := container.NewBorder(nil, nil, widget.NewIcon(theme.InfoIcon()), container.NewCenter(container.NewHBox(b.act, b.later)),
		container.NewVBox(title, notes, b.status))
	// A tint of the primary colour sets the bar off from the screen under it.
	p := theme.Color(theme.ColorNamePrimary)
	r, g, bl, _ := p.RGBA()
	tint := canvas.NewRectangle(color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(bl >> 8), A: 0x22})
	b.box = container.NewVBox(container.NewStack(tint, container.NewPadded(bar)), widget.NewSeparator())
	b.box.Hide()
	refresh := binding.NewDataListener(func() { fyne.Do(b.refresh) })
	for _, d := range []binding.DataItem{b.vm.Shown, b.vm.Action, b.vm.Status, b.vm.Busy, b.vm.Required} {
		d.AddListener(refresh)
	}
	return b
}

// refresh shows or hides the bar and its buttons (on the UI goroutine).
func (b *updateBanner) refresh() {
	shown, _ := b.vm.Shown.Get()
	if b.customer != nil {
		if in, _ := b.customer.Get(); in {
			shown = false
		}
	}
	action, _ := b.vm.Action.Get()
	b.act.SetText(action)
	busy, _ := b.vm.Busy.Get()
	required, _ := b.vm.Required.Get()
	if busy {
		b.act.Disable()
	} else {
		b.act.Enable()
	}
	b.later.Hidden = required
	b.later.Refresh()
	status, _ := b.vm.Status.Get()
	b.status.Hidden = status == ""
	b.status.Refresh()
	if shown != b.box.Visible() {
		if shown {
			b.box.Show()
		} else {
			b.box.Hide()
		}
		if b.outer != nil {
			b.outer.Refresh()
		}
	}
}

// follow watches the new customer's session (counter mode): the bar hides
// while one is signed in. On the UI goroutine.
func (b *updateBanner) follow(acc *model.Account) {
	if b.u.counter == nil {
		return
	}
	if b.customer != nil {
		b.customer.RemoveListener(b.customerL)
		b.customer = nil
	}
	if acc != nil {
		b.customer = acc.SignedIn
		b.customerL = binding.NewDataListener(func() { fyne.Do(b.refresh) })
		b.customer.AddListener(b.customerL)
	}
	b.refresh()
}

// withUpdates puts the update bar (when there is an updater) over content.
func (u *UI) withUpdates(content fyne.CanvasObject) fyne.CanvasObject {
	if u.deps.Updater == nil {
		return content
	}
	u.update = newUpdateBanner(u, u.deps.Updater)
	u.update.follow(u.account()) // counter mode: the first customer
	u.update.outer = container.NewBorder(u.update.box, nil, nil, nil, content)
	return u.update.outer
}

// holdForUpdate lets the installer start: never while a certificate is
// written (the write view-model then refuses writes until the program
// quits), in counter mode only while no customer is signed in. Any
// goroutine.
func (u *UI) holdForUpdate() (release func(), err error) {
	var wvm *model.WriteVM
	var customer bool
	fyne.DoAndWait(func() {
		if u.journey != nil {
			wvm = u.journey.WriteVM
		}
		if acc := u.account(); u.counter != nil && acc != nil {
			customer, _ = acc.SignedIn.Get()
		}
	})
	if customer {
		return nil, model.ErrCustomerPresent
	}
	if wvm == nil {
		return func() {}, nil
	}
	return wvm.HoldForUpdate()
}

// startUpdates checks for updates now and every model.UpdateCheckEvery.
func (u *UI) startUpdates() {
	if u.update != nil {
		go u.update.vm.Run(u.ctx)
	}
}
