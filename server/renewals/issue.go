package renewals

import (
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// KeyTypeOf names the key type of a certificate.
func KeyTypeOf(c *smx509.Certificate) renewal.KeyType {
	switch c.PublicKeyAlgorithm {
	case smx509.RSA:
		return renewal.KeyRSA
	case smx509.ECDSA:
		if sm2.IsSM2PublicKey(c.PublicKey) {
			return renewal.KeySM2
		}
		return renewal.KeyECDSA
	}
	return ""
}
