# netauth portal strings: Italian (italiano).
# Machine-made translation (not yet reviewed by a native speaker); corrections welcome.

language-name = Italiano
language = Lingua

auth-required-title = Autenticazione di rete richiesta
auth-required-text = Devi accedere a { $venue } prima di poter usare la rete.
sign-in = Accedi
sign-in-required = Accesso richiesto
sign-in-to-use = Accedi per usare questa rete

why-quota = Il tuo traffico dati è esaurito. Accedi di nuovo per continuare.
why-expired = Il tempo della tua sessione è scaduto. Accedi di nuovo per continuare.
why-idle = La tua sessione è terminata perché il dispositivo era inattivo. Accedi di nuovo per continuare.
why-operator = La tua sessione è stata terminata dal gestore della rete.
why-moved = La tua sessione è passata a un altro indirizzo del tuo dispositivo (lo stesso voucher ha effettuato l'accesso da un nuovo indirizzo). Accedi di nuovo per continuare qui.

login-title = Accedi a { $venue }
welcome = Benvenuto su { $venue }
default-terms = Connettendoti accetti di usare questa rete in modo lecito e rispettoso. Il gestore può registrare l'indirizzo hardware del tuo dispositivo e l'orario della tua sessione, e può terminare le sessioni in qualsiasi momento.
terms-heading = Condizioni d'uso
username = Nome utente
password = Password
voucher-code = Codice voucher
accept-connect = Accetta e connetti
login-expired = Questa pagina era scaduta. Riprova.
login-device-limit = Questo account è già connesso sul numero massimo di dispositivi consentiti.
login-invalid-voucher = Codice voucher non valido.
login-invalid-credentials = Nome utente o password non validi.

status-title = Stato della sessione
online-title = Sei online
online-text = Il tuo dispositivo ({ $mac }) ha effettuato l'accesso a { $venue }.
time-left = Tempo rimanente:
data-left = Dati rimanenti:
randomized-note = Il tuo dispositivo usa un indirizzo privato (casuale) su questa rete. Se esci dalla rete e ti riconnetti, potrebbe usare un nuovo indirizzo e chiederti di accedere di nuovo.
log-out = Esci
not-signed-in-title = Accesso non effettuato
not-signed-in-text = Il tuo dispositivo non ha effettuato l'accesso a { $venue }.
signed-out-title = Disconnesso
signed-out-text = Il tuo dispositivo non è più connesso a { $venue }.
sign-in-again = Accedi di nuovo

error-not-on-lan-title = Dispositivo non riconosciuto
error-not-on-lan = Questa pagina può essere usata solo da un dispositivo connesso alla rete ospiti. Se sei connesso, riconnettiti alla rete e riprova.
error-ambiguous-title = Riprova
error-ambiguous = Non siamo riusciti a capire da quale dispositivo provenisse questa richiesta. Riprova.
error-forged-title = Pagina scaduta
error-forged = Questo modulo è scaduto o non è stato inviato dalla pagina di accesso di questa rete. Torna indietro, ricarica la pagina e riprova.
error-not-accepted-title = Condizioni non accettate
error-not-accepted = Torna indietro e accetta le condizioni d'uso per connetterti.
error-full-title = Rete piena
error-full = La rete non può accettare altri dispositivi in questo momento. Riprova più tardi.
error-auth-unavailable-title = Accesso non disponibile
error-auth-unavailable = Il servizio di accesso non risponde in questo momento. Riprova tra un minuto.
error-internal-title = Qualcosa è andato storto
error-internal = Riprova.
error-end-not-recorded-title = Disconnesso
error-end-not-recorded = Il tuo dispositivo è disconnesso, ma la rete non ha ancora potuto registrarlo.
error-store-title = Accesso non disponibile
error-store = La rete non può registrare gli accessi in questo momento. Riprova tra un minuto.
error-session-title = Qualcosa è andato storto
error-session = Non è stato possibile connettere il tuo dispositivo. Riprova.
error-grant-refused-title = Accesso rifiutato
error-grant-refused = Non è stato possibile confermare l'accesso: è stato modificato, era scaduto, era già stato usato o era destinato a un altro dispositivo. Ricomincia.
error-not-found-title = Non trovato
error-not-found = Questa pagina non esiste su questo portale.
