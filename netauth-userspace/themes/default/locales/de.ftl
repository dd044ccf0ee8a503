# netauth portal strings: German (Deutsch).
# Machine-made translation (not yet reviewed by a native speaker); corrections welcome.

language-name = Deutsch
language = Sprache

auth-required-title = Anmeldung am Netzwerk erforderlich
auth-required-text = Sie müssen sich bei { $venue } anmelden, bevor Sie das Netzwerk nutzen können.
sign-in = Anmelden
sign-in-required = Anmeldung erforderlich
sign-in-to-use = Melden Sie sich an, um dieses Netzwerk zu nutzen

why-quota = Ihr Datenvolumen ist aufgebraucht. Melden Sie sich erneut an, um fortzufahren.
why-expired = Ihre Sitzungszeit ist abgelaufen. Melden Sie sich erneut an, um fortzufahren.
why-idle = Ihre Sitzung wurde beendet, weil das Gerät inaktiv war. Melden Sie sich erneut an, um fortzufahren.
why-operator = Ihre Sitzung wurde vom Netzbetreiber beendet.
why-moved = Ihre Sitzung ist auf eine andere Adresse Ihres Geräts umgezogen (derselbe Gutschein wurde von einer neuen Adresse aus erneut verwendet). Melden Sie sich erneut an, um hier fortzufahren.

login-title = Bei { $venue } anmelden
welcome = Willkommen bei { $venue }
default-terms = Mit der Verbindung stimmen Sie zu, dieses Netzwerk rechtmäßig und rücksichtsvoll zu nutzen. Der Betreiber kann die Hardwareadresse Ihres Geräts und die Zeit Ihrer Sitzung protokollieren und Sitzungen jederzeit beenden.
terms-heading = Nutzungsbedingungen
username = Benutzername
password = Passwort
voucher-code = Gutscheincode
accept-connect = Akzeptieren und verbinden
login-expired = Diese Seite war abgelaufen. Bitte versuchen Sie es erneut.
login-device-limit = Dieses Konto ist bereits auf so vielen Geräten angemeldet, wie erlaubt sind.
login-invalid-voucher = Ungültiger Gutscheincode.
login-invalid-credentials = Ungültiger Benutzername oder ungültiges Passwort.

status-title = Sitzungsstatus
online-title = Sie sind online
online-text = Ihr Gerät ({ $mac }) ist bei { $venue } angemeldet.
time-left = Verbleibende Zeit:
data-left = Verbleibendes Datenvolumen:
randomized-note = Ihr Gerät verwendet in diesem Netzwerk eine private (zufällige) Adresse. Wenn Sie das Netzwerk verlassen und erneut beitreten, verwendet es möglicherweise eine neue Adresse und Sie müssen sich erneut anmelden.
log-out = Abmelden
not-signed-in-title = Nicht angemeldet
not-signed-in-text = Ihr Gerät ist nicht bei { $venue } angemeldet.
signed-out-title = Abgemeldet
signed-out-text = Ihr Gerät ist nicht mehr bei { $venue } angemeldet.
sign-in-again = Erneut anmelden

error-not-on-lan-title = Gerät nicht erkannt
error-not-on-lan = Diese Seite kann nur von einem Gerät im Gastnetzwerk genutzt werden. Wenn Sie verbunden sind, verbinden Sie sich neu und versuchen Sie es erneut.
error-ambiguous-title = Bitte erneut versuchen
error-ambiguous = Wir konnten nicht feststellen, von welchem Gerät diese Anfrage kam. Bitte versuchen Sie es erneut.
error-forged-title = Seite abgelaufen
error-forged = Dieses Formular ist abgelaufen oder wurde nicht von der Anmeldeseite dieses Netzwerks gesendet. Bitte gehen Sie zurück, laden Sie die Seite neu und versuchen Sie es erneut.
error-not-accepted-title = Bedingungen nicht akzeptiert
error-not-accepted = Bitte gehen Sie zurück und akzeptieren Sie die Nutzungsbedingungen, um sich zu verbinden.
error-full-title = Netzwerk voll
error-full = Das Netzwerk kann gerade keine weiteren Geräte aufnehmen. Bitte versuchen Sie es später erneut.
error-auth-unavailable-title = Anmeldung nicht verfügbar
error-auth-unavailable = Der Anmeldedienst antwortet gerade nicht. Bitte versuchen Sie es in einer Minute erneut.
error-internal-title = Etwas ist schiefgelaufen
error-internal = Bitte versuchen Sie es erneut.
error-end-not-recorded-title = Abgemeldet
error-end-not-recorded = Ihr Gerät ist abgemeldet, aber das Netzwerk konnte dies noch nicht speichern.
error-store-title = Anmeldung nicht verfügbar
error-store = Das Netzwerk kann gerade keine Anmeldungen speichern. Bitte versuchen Sie es in einer Minute erneut.
error-session-title = Etwas ist schiefgelaufen
error-session = Ihr Gerät konnte nicht angemeldet werden. Bitte versuchen Sie es erneut.
error-grant-refused-title = Anmeldung abgelehnt
error-grant-refused = Die Anmeldung konnte nicht bestätigt werden: Sie wurde verändert, war abgelaufen, wurde bereits verwendet oder war für ein anderes Gerät bestimmt. Bitte beginnen Sie erneut.
error-not-found-title = Nicht gefunden
error-not-found = Diese Seite gibt es auf diesem Portal nicht.
