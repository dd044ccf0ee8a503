# netauth portal strings: Polish (polski).
# Machine-made translation (not yet reviewed by a native speaker); corrections welcome.

language-name = Polski
language = Język

auth-required-title = Wymagane uwierzytelnienie w sieci
auth-required-text = Aby korzystać z sieci, musisz się zalogować w { $venue }.
sign-in = Zaloguj się
sign-in-required = Wymagane logowanie
sign-in-to-use = Zaloguj się, aby korzystać z tej sieci

why-quota = Twój limit danych został wykorzystany. Zaloguj się ponownie, aby kontynuować.
why-expired = Czas Twojej sesji minął. Zaloguj się ponownie, aby kontynuować.
why-idle = Twoja sesja zakończyła się, ponieważ urządzenie było nieaktywne. Zaloguj się ponownie, aby kontynuować.
why-operator = Twoja sesja została zakończona przez operatora sieci.
why-moved = Twoja sesja została przeniesiona na inny adres Twojego urządzenia (ten sam kupon zalogował się z nowego adresu). Zaloguj się ponownie, aby kontynuować tutaj.

login-title = Zaloguj się w { $venue }
welcome = Witamy w { $venue }
default-terms = Łącząc się, zgadzasz się korzystać z tej sieci zgodnie z prawem i z poszanowaniem innych. Operator może rejestrować adres sprzętowy Twojego urządzenia i czas Twojej sesji oraz w każdej chwili zakończyć sesję.
terms-heading = Warunki korzystania
username = Nazwa użytkownika
password = Hasło
voucher-code = Kod kuponu
accept-connect = Akceptuję i łączę
login-expired = Ta strona wygasła. Spróbuj ponownie.
login-device-limit = To konto jest już zalogowane na maksymalnej dozwolonej liczbie urządzeń.
login-invalid-voucher = Nieprawidłowy kod kuponu.
login-invalid-credentials = Nieprawidłowa nazwa użytkownika lub hasło.

status-title = Stan sesji
online-title = Jesteś online
online-text = Twoje urządzenie ({ $mac }) jest zalogowane w { $venue }.
time-left = Pozostały czas:
data-left = Pozostałe dane:
randomized-note = Twoje urządzenie używa w tej sieci prywatnego (losowego) adresu. Jeśli opuścisz sieć i połączysz się ponownie, może użyć nowego adresu i poprosić o ponowne zalogowanie.
log-out = Wyloguj się
not-signed-in-title = Niezalogowano
not-signed-in-text = Twoje urządzenie nie jest zalogowane w { $venue }.
signed-out-title = Wylogowano
signed-out-text = Twoje urządzenie nie jest już zalogowane w { $venue }.
sign-in-again = Zaloguj się ponownie

error-not-on-lan-title = Nie rozpoznano urządzenia
error-not-on-lan = Z tej strony można korzystać tylko z urządzenia połączonego z siecią dla gości. Jeśli jesteś połączony, połącz się ponownie i spróbuj jeszcze raz.
error-ambiguous-title = Spróbuj ponownie
error-ambiguous = Nie udało się ustalić, z którego urządzenia pochodzi to żądanie. Spróbuj ponownie.
error-forged-title = Strona wygasła
error-forged = Ten formularz wygasł lub nie został wysłany ze strony logowania tej sieci. Wróć, odśwież stronę i spróbuj ponownie.
error-not-accepted-title = Nie zaakceptowano warunków
error-not-accepted = Wróć i zaakceptuj warunki korzystania, aby się połączyć.
error-full-title = Sieć pełna
error-full = Sieć nie może teraz przyjąć więcej urządzeń. Spróbuj ponownie później.
error-auth-unavailable-title = Logowanie niedostępne
error-auth-unavailable = Usługa logowania nie odpowiada. Spróbuj ponownie za minutę.
error-internal-title = Coś poszło nie tak
error-internal = Spróbuj ponownie.
error-end-not-recorded-title = Wylogowano
error-end-not-recorded = Twoje urządzenie zostało wylogowane, ale sieć nie mogła jeszcze tego zapisać.
error-store-title = Logowanie niedostępne
error-store = Sieć nie może teraz zapisywać logowań. Spróbuj ponownie za minutę.
error-session-title = Coś poszło nie tak
error-session = Nie udało się zalogować Twojego urządzenia. Spróbuj ponownie.
error-grant-refused-title = Logowanie odrzucone
error-grant-refused = Nie udało się potwierdzić logowania: zostało zmienione, wygasło, zostało już użyte lub było przeznaczone dla innego urządzenia. Zacznij od nowa.
error-not-found-title = Nie znaleziono
error-not-found = Na tym portalu nie ma takiej strony.
