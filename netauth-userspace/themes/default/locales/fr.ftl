# netauth portal strings: French (français).
# Machine-made translation (not yet reviewed by a native speaker); corrections welcome.

language-name = Français
language = Langue

auth-required-title = Authentification réseau requise
auth-required-text = Vous devez vous connecter à { $venue } avant de pouvoir utiliser le réseau.
sign-in = Se connecter
sign-in-required = Connexion requise
sign-in-to-use = Connectez-vous pour utiliser ce réseau

why-quota = Votre forfait de données est épuisé. Reconnectez-vous pour continuer.
why-expired = Votre temps de session est écoulé. Reconnectez-vous pour continuer.
why-idle = Votre session a pris fin car l'appareil était inactif. Reconnectez-vous pour continuer.
why-operator = Votre session a été terminée par l'opérateur du réseau.
why-moved = Votre session est passée à une autre adresse de votre appareil (le même code s'est reconnecté depuis une nouvelle adresse). Reconnectez-vous pour continuer ici.

login-title = Connexion à { $venue }
welcome = Bienvenue sur { $venue }
default-terms = En vous connectant, vous acceptez d'utiliser ce réseau de manière légale et respectueuse. L'opérateur peut enregistrer l'adresse matérielle de votre appareil et l'heure de votre session, et peut mettre fin aux sessions à tout moment.
terms-heading = Conditions d'utilisation
username = Nom d'utilisateur
password = Mot de passe
voucher-code = Code du ticket
accept-connect = Accepter et se connecter
login-expired = Cette page avait expiré. Veuillez réessayer.
login-device-limit = Ce compte est déjà connecté sur autant d’appareils que permis.
login-invalid-voucher = Code de ticket invalide.
login-invalid-credentials = Nom d'utilisateur ou mot de passe invalide.

status-title = État de la session
online-title = Vous êtes en ligne
online-text = Votre appareil ({ $mac }) est connecté à { $venue }.
time-left = Temps restant :
data-left = Données restantes :
randomized-note = Votre appareil utilise une adresse privée (aléatoire) sur ce réseau. Si vous quittez le réseau et le rejoignez, il peut utiliser une nouvelle adresse et vous demander de vous reconnecter.
log-out = Se déconnecter
not-signed-in-title = Non connecté
not-signed-in-text = Votre appareil n'est pas connecté à { $venue }.
signed-out-title = Déconnecté
signed-out-text = Votre appareil n'est plus connecté à { $venue }.
sign-in-again = Se reconnecter

error-not-on-lan-title = Appareil non reconnu
error-not-on-lan = Cette page ne peut être utilisée que depuis un appareil connecté au réseau invité. Si vous êtes connecté, reconnectez-vous au réseau et réessayez.
error-ambiguous-title = Veuillez réessayer
error-ambiguous = Nous n'avons pas pu déterminer de quel appareil venait cette demande. Veuillez réessayer.
error-forged-title = Page expirée
error-forged = Ce formulaire a expiré ou n'a pas été envoyé depuis la page de connexion de ce réseau. Revenez en arrière, rechargez la page et réessayez.
error-not-accepted-title = Conditions non acceptées
error-not-accepted = Revenez en arrière et acceptez les conditions d'utilisation pour vous connecter.
error-full-title = Réseau complet
error-full = Le réseau ne peut pas accueillir plus d'appareils pour le moment. Veuillez réessayer plus tard.
error-auth-unavailable-title = Connexion indisponible
error-auth-unavailable = Le service de connexion ne répond pas pour le moment. Veuillez réessayer dans une minute.
error-internal-title = Une erreur est survenue
error-internal = Veuillez réessayer.
error-end-not-recorded-title = Déconnecté
error-end-not-recorded = Votre appareil est déconnecté, mais le réseau n'a pas encore pu l'enregistrer.
error-store-title = Connexion indisponible
error-store = Le réseau ne peut pas enregistrer de connexions pour le moment. Veuillez réessayer dans une minute.
error-session-title = Une erreur est survenue
error-session = Votre appareil n'a pas pu être connecté. Veuillez réessayer.
error-grant-refused-title = Connexion refusée
error-grant-refused = La connexion n'a pas pu être confirmée : elle a été modifiée, avait expiré, a déjà été utilisée ou était destinée à un autre appareil. Veuillez recommencer.
error-not-found-title = Introuvable
error-not-found = Cette page n'existe pas sur ce portail.
