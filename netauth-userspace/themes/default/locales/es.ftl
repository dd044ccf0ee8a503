# netauth portal strings: Spanish (español).
# Machine-made translation (not yet reviewed by a native speaker); corrections welcome.

language-name = Español
language = Idioma

auth-required-title = Se requiere autenticación de red
auth-required-text = Debe iniciar sesión en { $venue } antes de poder usar la red.
sign-in = Iniciar sesión
sign-in-required = Inicio de sesión requerido
sign-in-to-use = Inicie sesión para usar esta red

why-quota = Se ha agotado su volumen de datos. Inicie sesión de nuevo para continuar.
why-expired = Se ha agotado el tiempo de su sesión. Inicie sesión de nuevo para continuar.
why-idle = Su sesión terminó porque el dispositivo estaba inactivo. Inicie sesión de nuevo para continuar.
why-operator = El operador de la red ha finalizado su sesión.
why-moved = Su sesión pasó a otra dirección de su dispositivo (el mismo cupón inició sesión desde una dirección nueva). Inicie sesión de nuevo para continuar aquí.

login-title = Iniciar sesión en { $venue }
welcome = Bienvenido a { $venue }
default-terms = Al conectarse acepta usar esta red de forma legal y respetuosa. El operador puede registrar la dirección de hardware de su dispositivo y la hora de su sesión, y puede finalizar las sesiones en cualquier momento.
terms-heading = Condiciones de uso
username = Nombre de usuario
password = Contraseña
voucher-code = Código del cupón
accept-connect = Aceptar y conectar
login-expired = Esta página había caducado. Inténtelo de nuevo.
login-device-limit = Esta cuenta ya tiene sesión iniciada en tantos dispositivos como se permite.
login-invalid-voucher = Código de cupón no válido.
login-invalid-credentials = Nombre de usuario o contraseña no válidos.

status-title = Estado de la sesión
online-title = Está conectado
online-text = Su dispositivo ({ $mac }) ha iniciado sesión en { $venue }.
time-left = Tiempo restante:
data-left = Datos restantes:
randomized-note = Su dispositivo usa una dirección privada (aleatoria) en esta red. Si sale de la red y vuelve a unirse, puede usar una dirección nueva y pedirle que inicie sesión de nuevo.
log-out = Cerrar sesión
not-signed-in-title = Sesión no iniciada
not-signed-in-text = Su dispositivo no ha iniciado sesión en { $venue }.
signed-out-title = Sesión cerrada
signed-out-text = Su dispositivo ya no tiene sesión iniciada en { $venue }.
sign-in-again = Iniciar sesión de nuevo

error-not-on-lan-title = Dispositivo no reconocido
error-not-on-lan = Esta página solo puede usarse desde un dispositivo conectado a la red de invitados. Si está conectado, vuelva a conectarse a la red e inténtelo de nuevo.
error-ambiguous-title = Inténtelo de nuevo
error-ambiguous = No pudimos saber de qué dispositivo vino esta solicitud. Inténtelo de nuevo.
error-forged-title = Página caducada
error-forged = Este formulario ha caducado o no se envió desde la página de inicio de sesión de esta red. Vuelva atrás, recargue la página e inténtelo de nuevo.
error-not-accepted-title = Condiciones no aceptadas
error-not-accepted = Vuelva atrás y acepte las condiciones de uso para conectarse.
error-full-title = Red llena
error-full = La red no admite más dispositivos en este momento. Inténtelo más tarde.
error-auth-unavailable-title = Inicio de sesión no disponible
error-auth-unavailable = El servicio de inicio de sesión no responde en este momento. Inténtelo de nuevo en un minuto.
error-internal-title = Algo ha salido mal
error-internal = Inténtelo de nuevo.
error-end-not-recorded-title = Sesión cerrada
error-end-not-recorded = Su dispositivo ha cerrado sesión, pero la red aún no pudo registrarlo.
error-store-title = Inicio de sesión no disponible
error-store = La red no puede registrar inicios de sesión en este momento. Inténtelo de nuevo en un minuto.
error-session-title = Algo ha salido mal
error-session = No se pudo iniciar sesión con su dispositivo. Inténtelo de nuevo.
error-grant-refused-title = Inicio de sesión rechazado
error-grant-refused = No se pudo confirmar el inicio de sesión: fue modificado, había caducado, ya se usó o era para otro dispositivo. Vuelva a empezar.
error-not-found-title = No encontrado
error-not-found = Esta página no existe en este portal.
