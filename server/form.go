package server

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/formpdf"
)

// applicationForm is the printable form of an application: the clerk
// prints it, signs it, has it stamped with the company seal and uploads
// the scan.
func (s *Server) applicationForm(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apps.Get(r.Context(), s.caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := a.Form
	yuan := func(fen int64) string { return fmt.Sprintf("%d.%02d 元", fen/100, fen%100) }
	yesNo := map[bool]string{true: "是", false: "否"}
	invoice := "不需要发票"
	if f.Invoice.Kind == renewal.InvoiceElectronic {
		invoice = "增值税普通发票（电子）"
	}
	pickup := map[renewal.PickupMethod]string{renewal.PickupOnSite: "现场领取", renewal.PickupPost: "邮寄"}[f.Pickup.Method]
	form := formpdf.Form{
		Title:    "数字证书续期申请表",
		Subtitle: "申请编号 " + a.ID + "    证书序列号 " + a.CertSerial,
		Sections: []formpdf.Section{
			{Title: "续期信息", Lines: []formpdf.Line{
				{Label: "续期年限", Value: strconv.Itoa(f.Years) + " 年"},
				{Label: "费用", Value: yuan(a.PriceFen)},
				{Label: "更换密钥对", Value: yesNo[a.Rekey]},
			}},
			{Title: "机构信息", Lines: []formpdf.Line{
				{Label: "机构名称", Value: f.Organisation.Name},
				{Label: "统一社会信用代码", Value: f.Organisation.CreditCode},
			}},
			{Title: "法定代表人", Lines: []formpdf.Line{
				{Label: "姓名", Value: f.LegalRepresentative.Name},
				{Label: "身份证号码", Value: f.LegalRepresentative.IDNumber},
				{Label: "手机号码", Value: f.LegalRepresentative.Mobile},
			}},
			{Title: "金融认证账户", Lines: []formpdf.Line{
				{Label: "开户名称", Value: f.Bank.AccountName},
				{Label: "开户银行", Value: f.Bank.BankName},
				{Label: "银行账号", Value: f.Bank.AccountNumber},
			}},
			{Title: "发票", Lines: []formpdf.Line{
				{Label: "发票类型", Value: invoice},
				{Label: "发票抬头", Value: f.Invoice.Title},
				{Label: "纳税人识别号", Value: f.Invoice.TaxID},
				{Label: "接收邮箱", Value: f.Invoice.Email},
			}},
			{Title: "取锁方式", Lines: []formpdf.Line{
				{Label: "方式", Value: pickup},
				{Label: "收件人", Value: f.Pickup.Recipient},
				{Label: "收件人手机", Value: f.Pickup.Mobile},
				{Label: "邮寄地址", Value: f.Pickup.Address},
			}},
		},
		Signatures: []string{"单位盖章：", "法定代表人签字：", "日期：        年      月      日"},
		Footer:     "由 UKey Renew 于 " + s.now().In(chinaTime).Format("2006-01-02 15:04") + " 生成（第 " + strconv.FormatInt(a.Version, 10) + " 版）。请打印、签字并加盖公章后上传扫描件。",
	}
	pdf := formpdf.Render(form)
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Length", strconv.Itoa(len(pdf)))
	w.Header().Set("Content-Disposition", `attachment; filename="application-`+a.ID+`.pdf"`)
	_, _ = w.Write(pdf)
	return nil
}
