# netauth portal strings: Dutch (Nederlands).
# Machine-made translation (not yet reviewed by a native speaker); corrections welcome.

language-name = Nederlands
language = Taal

auth-required-title = Netwerkaanmelding vereist
auth-required-text = U moet zich aanmelden bij { $venue } voordat u het netwerk kunt gebruiken.
sign-in = Aanmelden
sign-in-required = Aanmelden vereist
sign-in-to-use = Meld u aan om dit netwerk te gebruiken

why-quota = Uw databundel is op. Meld u opnieuw aan om verder te gaan.
why-expired = Uw sessietijd is om. Meld u opnieuw aan om verder te gaan.
why-idle = Uw sessie is beëindigd omdat het apparaat inactief was. Meld u opnieuw aan om verder te gaan.
why-operator = Uw sessie is beëindigd door de netwerkbeheerder.
why-moved = Uw sessie is verhuisd naar een ander adres van uw apparaat (dezelfde voucher is opnieuw aangemeld vanaf een nieuw adres). Meld u opnieuw aan om hier verder te gaan.

login-title = Aanmelden bij { $venue }
welcome = Welkom bij { $venue }
default-terms = Door verbinding te maken gaat u ermee akkoord dit netwerk wettig en met respect voor anderen te gebruiken. De beheerder kan het hardwareadres van uw apparaat en de tijd van uw sessie vastleggen en kan sessies op elk moment beëindigen.
terms-heading = Gebruiksvoorwaarden
username = Gebruikersnaam
password = Wachtwoord
voucher-code = Vouchercode
accept-connect = Accepteren en verbinden
login-expired = Deze pagina was verlopen. Probeer het opnieuw.
login-device-limit = Dit account is al aangemeld op zoveel apparaten als toegestaan.
login-invalid-voucher = Ongeldige vouchercode.
login-invalid-credentials = Ongeldige gebruikersnaam of wachtwoord.

status-title = Sessiestatus
online-title = U bent online
online-text = Uw apparaat ({ $mac }) is aangemeld bij { $venue }.
time-left = Resterende tijd:
data-left = Resterende data:
randomized-note = Uw apparaat gebruikt op dit netwerk een privé (willekeurig) adres. Als u het netwerk verlaat en opnieuw verbindt, kan het een nieuw adres gebruiken en moet u zich mogelijk opnieuw aanmelden.
log-out = Afmelden
not-signed-in-title = Niet aangemeld
not-signed-in-text = Uw apparaat is niet aangemeld bij { $venue }.
signed-out-title = Afgemeld
signed-out-text = Uw apparaat is niet meer aangemeld bij { $venue }.
sign-in-again = Opnieuw aanmelden

error-not-on-lan-title = Apparaat niet herkend
error-not-on-lan = Deze pagina kan alleen worden gebruikt vanaf een apparaat dat met het gastnetwerk is verbonden. Als u verbonden bent, maak dan opnieuw verbinding en probeer het opnieuw.
error-ambiguous-title = Probeer het opnieuw
error-ambiguous = We konden niet vaststellen van welk apparaat dit verzoek kwam. Probeer het opnieuw.
error-forged-title = Pagina verlopen
error-forged = Dit formulier is verlopen of is niet verzonden vanaf de aanmeldpagina van dit netwerk. Ga terug, laad de pagina opnieuw en probeer het opnieuw.
error-not-accepted-title = Voorwaarden niet geaccepteerd
error-not-accepted = Ga terug en accepteer de gebruiksvoorwaarden om verbinding te maken.
error-full-title = Netwerk vol
error-full = Het netwerk kan op dit moment geen apparaten meer toelaten. Probeer het later opnieuw.
error-auth-unavailable-title = Aanmelden niet beschikbaar
error-auth-unavailable = De aanmeldservice reageert op dit moment niet. Probeer het over een minuut opnieuw.
error-internal-title = Er is iets misgegaan
error-internal = Probeer het opnieuw.
error-end-not-recorded-title = Afgemeld
error-end-not-recorded = Uw apparaat is afgemeld, maar het netwerk kon dit nog niet vastleggen.
error-store-title = Aanmelden niet beschikbaar
error-store = Het netwerk kan op dit moment geen aanmeldingen vastleggen. Probeer het over een minuut opnieuw.
error-session-title = Er is iets misgegaan
error-session = Uw apparaat kon niet worden aangemeld. Probeer het opnieuw.
error-grant-refused-title = Aanmelding geweigerd
error-grant-refused = De aanmelding kon niet worden bevestigd: ze is gewijzigd, was verlopen, is al gebruikt of was voor een ander apparaat bedoeld. Begin opnieuw.
error-not-found-title = Niet gevonden
error-not-found = Deze pagina bestaat niet op dit portaal.
